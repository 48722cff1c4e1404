#!/usr/bin/env python3
"""Writes the web console's files (console/) as a C table for the engine
(cse/wire/console.h: console_assets[]), so the CSE serves them with no file
beside it. Usage: embed-assets.py OUT.c FILE...; each file is served at
/console/<its name>."""
import os
import sys

TYPES = {".html": "text/html; charset=utf-8", ".css": "text/css; charset=utf-8",
         ".js": "text/javascript; charset=utf-8", ".svg": "image/svg+xml"}


def main():
    out, files = sys.argv[1], sys.argv[2:]
    lines = ['#include "cse/wire/console.h"', ""]
    entries = []
    for i, path in enumerate(files):
        name = os.path.basename(path)
        ctype = TYPES.get(os.path.splitext(name)[1])
        if not ctype:
            sys.exit(f"embed-assets: no content type for {name}")
        data = open(path, "rb").read()
        body = ",".join(str(b) for b in data) or "0"
        lines.append(f"static const unsigned char asset{i}[] = {{{body}}};")
        entries.append(f'    {{ "{name}", "{ctype}", asset{i}, {len(data)} }},')
    lines += ["", "const struct console_asset console_assets[] = {", *entries, "};",
              f"const size_t console_nassets = {len(files)};", ""]
    with open(out, "w") as f:
        f.write("\n".join(lines))


main()
