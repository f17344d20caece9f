<?php
// Shows the GET and POST parameters the server handed to PHP, escaped, and a
// form that posts back here. A CGI test reads the <dd> lines back.

function show($value): string
{
    // name[]=a&name[]=b arrives as an array; htmlspecialchars takes strings.
    if (is_array($value))
        return implode(', ', array_map('show', $value));
    return htmlspecialchars((string)$value, ENT_QUOTES | ENT_SUBSTITUTE, 'UTF-8');
}

function listing(string $title, array $params): void
{
    echo "<h2>", show($title), "</h2>\n";
    if (count($params) === 0) {
        echo "<p>(none)</p>\n";
        return;
    }
    echo "<dl>\n";
    foreach ($params as $name => $value)
        echo "<dt>", show($name), "</dt><dd>", show($value), "</dd>\n";
    echo "</dl>\n";
}

header('Content-Type: text/html; charset=utf-8');
?>
<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>A PHP form — From echo to reactor</title>
<link rel="stylesheet" href="../style.css">
</head>
<body>
<main>
<h1>A PHP form</h1>
<p>Method: <?= show($_SERVER['REQUEST_METHOD'] ?? '') ?></p>
<?php listing('GET parameters', $_GET); ?>
<?php listing('POST parameters', $_POST); ?>
<form method="post" action="form.php?from=form">
  <label>Greeting <input name="greeting" value="&lt;b&gt;hello&lt;/b&gt; &amp; welcome"></label>
  <button type="submit">Post to this page</button>
</form>
<p><a href="../index.html">Back to the start</a></p>
</main>
</body>
</html>
