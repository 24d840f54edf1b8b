"""Small fixes to the rendered book, as a local Sphinx extension.

sphinx-thebe (loaded by Jupyter Book whether or not Thebe is used) registers its
configuration script twice, and the second ``const THEBE_JS_URL`` is a console
error on every page. Drop repeated script entries before each page is written.
"""

from __future__ import annotations


def _dedupe_scripts(app, pagename, templatename, context, doctree):
    scripts = context.get("script_files")
    if not scripts:
        return
    seen, unique = set(), []
    for script in scripts:
        # The repeat registers filename "" where the first had None: compare by content.
        filename = getattr(script, "filename", script) or ""
        key = (str(filename), repr(sorted(getattr(script, "attributes", {}).items())))
        if key not in seen:
            seen.add(key)
            unique.append(script)
    context["script_files"] = unique


def setup(app):
    app.connect("html-page-context", _dedupe_scripts, priority=999)  # after other extensions
    return {"parallel_read_safe": True, "parallel_write_safe": True}
