#!/bin/sh
# report_html.sh IN.md OUT.html - the report as one self-contained HTML file.
#
# Reads the Markdown that scripts/report.sh writes (headings, paragraphs, "- " lists
# with indented continuation lines and fenced code, pipe tables, "> " notes, inline
# code, bold, relative links, and lines of images) and writes HTML that is also
# well-formed XML. An image line's SVG files (paths relative to IN.md's directory) are
# put inline, their ids prefixed per picture so that two pictures' "plot" clip paths
# stay apart; PNG files stay relative links (<img src>). A table after the line
# "<!-- heatmap -->" gets its counts shaded on a log scale. Plain CSS, no scripts, no
# external links or fonts: a link that is not relative is written as plain text.
set -eu
[ $# -eq 2 ] || { echo "usage: report_html.sh IN.md OUT.html" >&2; exit 64; }
in=$1
out=$2
[ -f "$in" ] || { echo "report_html.sh: $in: no such file" >&2; exit 66; }
base=$(dirname "$in")
title=$(sed -n 's/^# //p' "$in" | head -n 1)
tmp=$out.tmp-$$
trap 'rm -f "$tmp"' EXIT
awk -v base="$base" -v title="$title" '
function esc(s) { gsub(/&/, "\\&amp;", s); gsub(/</, "\\&lt;", s); gsub(/>/, "\\&gt;", s); gsub(/"/, "\\&quot;", s); return s }

# inline Markdown of one escaped-on-the-way line: `code`, **bold**, [text](link)
function inl(s,    n, parts, i, r, seg) {
    s = esc(s)
    n = split(s, parts, "`")
    r = ""
    for (i = 1; i <= n; i++) {
        seg = parts[i]
        if (i % 2 == 0 && i < n) { r = r "<code>" seg "</code>"; continue }
        if (i % 2 == 0) seg = "`" seg # an unmatched backtick stays as it is
        while (match(seg, /\*\*[^*]+\*\*/))
            seg = substr(seg, 1, RSTART - 1) "<strong>" substr(seg, RSTART + 2, RLENGTH - 4) "</strong>" substr(seg, RSTART + RLENGTH)
        r = r links(seg)
    }
    return r
}

function links(s,    r, t, u, k) {
    r = ""
    while (match(s, /\[[^]]*\]\([^) ]*\)/)) {
        t = substr(s, RSTART + 1, RLENGTH - 1); k = index(t, "](")
        u = substr(t, k + 2, length(t) - k - 2); t = substr(t, 1, k - 1)
        r = r substr(s, 1, RSTART - 1)
        if (u ~ /^[a-zA-Z][a-zA-Z0-9+.-]*:/ || u ~ /^\/\//) r = r t # not relative: plain text
        else r = r "<a href=\"" u "\">" t "</a>"
        s = substr(s, RSTART + RLENGTH)
    }
    return r s
}

function slug(s) {
    s = tolower(s)
    gsub(/[^a-z0-9 _-]/, "", s)
    gsub(/ /, "-", s)
    return s
}

function close_para() { if (para != "") { print "<p>" inl(para) "</p>"; para = "" } }
function close_quote() { if (quote != "") { print "<blockquote><p>" inl(quote) "</p></blockquote>"; quote = "" } }
function close_item() { if (item != "") { print inl(item); item = "" } }
function close_list() { if (inlist) { close_item(); print "</li></ul>"; inlist = 0 } }
function close_table(    i, j, n, c, tag, cls, v, t, mx, rgb, lo) {
    if (!nrows) return
    mx = 0
    if (heat)
        for (i = 3; i <= nrows; i++) for (j = 2; j <= ncell[i]; j++) {
            v = cell[i, j]; if (v ~ /^[0-9]+$/ && v + 0 > mx) mx = v + 0
        }
    print "<table" (heat ? " class=\"heatmap\"" : "") ">"
    for (i = 1; i <= nrows; i++) {
        if (i == 2) continue
        if (i == 1) print "<thead>"
        if (i == 3) print "<tbody>"
        printf "<tr>"
        for (j = 1; j <= ncell[i]; j++) {
            tag = i == 1 ? "th" : "td"
            cls = align[j] == "r" ? " class=\"r\"" : ""
            v = cell[i, j]
            if (heat && i > 2 && j > 1 && v ~ /^[0-9]+$/ && mx > 0) {
                t = log(1 + v) / log(1 + mx)
                rgb = sprintf("#%02x%02x%02x", 255 - t * (255 - 33), 255 - t * (255 - 102), 255 - t * (255 - 172))
                cls = sprintf(" class=\"r\" style=\"background:%s;color:%s\"", v + 0 == 0 ? "#ffffff" : rgb, v + 0 == 0 ? "#aaaaaa" : (t > 0.55 ? "#ffffff" : "#111111"))
            }
            printf "<%s%s>%s</%s>", tag, cls, inl(v), tag
        }
        print "</tr>"
        if (i == 1) print "</thead>"
    }
    if (nrows > 2) print "</tbody>"
    print "</table>"
    nrows = 0; heat = 0
    for (j in align) delete align[j]
}
function close_all() { close_para(); close_quote(); close_table(); close_list() }

function table_row(line,    n, f, j) {
    sub(/^[ \t]*\|/, "", line); sub(/\|[ \t]*$/, "", line)
    n = split(line, f, "|")
    nrows++
    for (j = 1; j <= n; j++) { sub(/^[ \t]+/, "", f[j]); sub(/[ \t]+$/, "", f[j]); cell[nrows, j] = f[j] }
    ncell[nrows] = n
    if (nrows == 2)
        for (j = 1; j <= n; j++) align[j] = f[j] ~ /^:-+:$/ ? "c" : f[j] ~ /-:$/ ? "r" : "l"
}

# The SVG file, inline: no XML declaration, ids prefixed with "fN-".
function svg(path, alt,    line, pre, w, out) {
    nfig++
    pre = "f" nfig "-"
    out = ""
    while ((getline line < path) > 0) {
        if (line ~ /^<\?xml/) continue
        gsub(/id="/, "id=\"" pre, line)
        gsub(/url\(#/, "url(#" pre, line)
        gsub(/href="#/, "href=\"#" pre, line)
        if (line ~ /^<svg /) {
            w = line; sub(/.* width="/, "", w); sub(/".*/, "", w)
            sub(/^<svg /, "<svg role=\"img\" aria-label=\"" esc(alt) "\" ", line)
        }
        out = out line "\n"
    }
    close(path)
    if (out == "") return "<p class=\"missing\">missing picture: " esc(path) "</p>"
    return "<div class=\"figure\"" (w + 0 > 0 ? " style=\"max-width:" w + 0 "px\"" : "") ">\n" out \
           "<p class=\"caption\">" esc(alt) "</p></div>"
}

function images(line,    alt, path, t, k, r) {
    r = "<div class=\"figures\">"
    while (match(line, /!\[[^]]*\]\([^)]*\)/)) {
        t = substr(line, RSTART + 2, RLENGTH - 3); line = substr(line, RSTART + RLENGTH)
        k = index(t, "](")
        alt = substr(t, 1, k - 1); path = substr(t, k + 2)
        if (path ~ /\.svg$/) r = r "\n" svg(base "/" path, alt)
        else r = r "\n<div class=\"figure\" style=\"max-width:480px\"><a href=\"" esc(path) "\"><img src=\"" esc(path) "\" alt=\"" esc(alt) "\"/></a><p class=\"caption\">" esc(alt) "</p></div>"
    }
    return r "\n</div>"
}

BEGIN {
    print "<!DOCTYPE html>"
    print "<html xmlns=\"http://www.w3.org/1999/xhtml\" lang=\"en\">"
    print "<head>"
    print "<meta charset=\"utf-8\"/>"
    print "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"/>"
    print "<title>" esc(title) "</title>"
    print "<style>"
    print "body { margin: 0; background: #ffffff; color: #1f2328; font: 15px/1.55 -apple-system, \"Segoe UI\", \"DejaVu Sans\", \"Liberation Sans\", Arial, sans-serif; }"
    print ".page { max-width: 1060px; margin: 0 auto; padding: 1.2rem 2rem 4rem; }"
    print "h1 { font-size: 1.75rem; border-bottom: 2px solid #d0d7de; padding-bottom: .3rem; }"
    print "h2 { font-size: 1.4rem; margin-top: 2.6rem; border-bottom: 1px solid #d0d7de; padding-bottom: .25rem; }"
    print "h3 { font-size: 1.12rem; margin-top: 1.8rem; }"
    print "table { border-collapse: collapse; margin: .7rem 0 1rem; font-size: .9rem; }"
    print "th, td { border: 1px solid #d0d7de; padding: .22rem .55rem; vertical-align: top; text-align: left; }"
    print "th { background: #f6f8fa; }"
    print "tbody tr:nth-child(even) td { background-color: #fafbfc; }"
    print "th.r, td.r { text-align: right; font-variant-numeric: tabular-nums; }"
    print "table.heatmap td, table.heatmap th { min-width: 2.6em; }"
    print "code { font-family: \"DejaVu Sans Mono\", Menlo, Consolas, monospace; font-size: .86em; background: #eff1f3; padding: .05em .3em; border-radius: 3px; }"
    print "pre { background: #f6f8fa; border: 1px solid #e5e8eb; padding: .55rem .8rem; font-size: .8rem; white-space: pre-wrap; overflow-wrap: anywhere; }"
    print "pre code { background: none; padding: 0; font-size: 1em; }"
    print "blockquote { margin: 1rem 0; padding: .2rem 1rem; border-left: 4px solid #d4a72c; background: #fff8c5; }"
    print "ul { padding-left: 1.4rem; } li { margin: .3rem 0; }"
    print ".figures { display: flex; flex-wrap: wrap; gap: 1.2rem; align-items: flex-start; margin: 1rem 0 1.4rem; }"
    print ".figure { flex: 1 1 420px; min-width: 0; }"
    print ".figure svg { display: block; width: 100%; height: auto; }"
    print ".figure img { display: block; max-width: 100%; height: auto; border: 1px solid #d0d7de; }"
    print ".caption { font-size: .82rem; color: #57606a; margin: .25rem 0 0; }"
    print "</style>"
    print "</head>"
    print "<body>"
    print "<div class=\"page\">"
}

incode {
    if ($0 ~ /^[ \t]*```/) { print "</code></pre>"; incode = 0; next }
    l = $0; if (codeind > 0 && substr(l, 1, codeind) ~ /^ +$/) l = substr(l, codeind + 1)
    print esc(l)
    next
}

/^[ \t]*```/ {
    close_para(); close_quote(); close_table()
    if (inlist && $0 !~ /^  /) close_list()
    if (inlist) close_item()
    match($0, /^[ \t]*/); codeind = RLENGTH
    printf "<pre><code>"
    incode = 1; blank = 0
    next
}

/^<!-- *heatmap *-->/ { close_all(); heat = 1; next }
/^<!--/ { next }

/^[ \t]*$/ { close_para(); close_quote(); close_table(); close_item(); blank = 1; next }

/^#+ / {
    close_all()
    n = index($0, " ") - 1; if (n > 6) n = 6
    t = substr($0, n + 2)
    printf "<h%d id=\"%s\">%s</h%d>\n", n, slug(t), inl(t), n
    next
}

/^\|/ { close_para(); close_quote(); close_list(); table_row($0); next }

/^> ?/ { close_para(); close_table(); close_list(); l = $0; sub(/^> ?/, "", l); quote = quote (quote == "" ? "" : " ") l; next }

/^- / {
    close_para(); close_quote(); close_table()
    if (!inlist) { print "<ul>"; inlist = 1 } else { close_item(); print "</li>" }
    printf "<li>"
    item = substr($0, 3); blank = 0
    next
}

inlist && /^  / { l = $0; sub(/^ +/, "", l); if (blank && item == "") { item = l } else item = item " " l; blank = 0; next }

/^[ \t]*(!\[[^]]*\]\([^)]*\)[ \t]*)+$/ { close_all(); print images($0); next }

{ close_quote(); close_table(); close_list(); para = para (para == "" ? "" : " ") $0; blank = 0 }

END {
    if (incode) print "</code></pre>"
    close_all()
    print "</div>"
    print "</body>"
    print "</html>"
}
' "$in" > "$tmp"
mv "$tmp" "$out"
trap - EXIT
