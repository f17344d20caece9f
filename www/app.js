// Checks that every resource of the page arrived and was understood, and
// writes the verdict into #status for a person or a headless browser to read.

function missingResources() {
    const missing = [];
    for (const img of document.images) {
        // A broken or undecodable image (wrong bytes, wrong MIME type for an
        // SVG) finishes loading with a natural width of 0.
        if (!img.complete || img.naturalWidth === 0)
            missing.push(img.getAttribute("src"));
    }
    const root = getComputedStyle(document.documentElement);
    if (root.getPropertyValue("--stylesheet").trim() !== "applied")
        missing.push("style.css");
    return missing;
}

function report() {
    const status = document.getElementById("status");
    const missing = [...new Set(missingResources())];
    status.textContent = missing.length === 0
        ? "all resources loaded"
        : "missing: " + missing.join(", ");
    status.className = missing.length === 0 ? "ok" : "bad";
}

// "load" waits for every image and stylesheet; a module may run after it.
if (document.readyState === "complete")
    report();
else
    window.addEventListener("load", report);
