#!/bin/bash
# compare.sh EXPECTED.log ACTUAL.log [MASK]
#
# Compares two conformance logs (raw COM1 output or already filtered) line by line, after masking the
# fields listed in MASK (default: mask.txt beside this script; masked fields are removed).  Lines are matched by test number;
# a test whose name differs means the logs come from different program versions (failure).
# Prints one line per differing test (expected/actual after masking), then
#   "conformance: N passed, M failed"
# Exit status 0 iff nothing failed.  Set SHOW_MASKED=1 to also list tests that differ only in
# masked fields.
set -euo pipefail
[ $# -ge 2 ] || { echo "usage: $0 EXPECTED.log ACTUAL.log [MASK]" >&2; exit 2; }
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
EXP=$1 ACT=$2 MASK=${3:-$HERE/mask.txt}

filter() { tr -d '\r' < "$1" | grep -aE '^(CONF|T[0-9]{3}|SUMMARY)' || true; }

awk -v show_masked="${SHOW_MASKED:-0}" '
function glob2re(g,   i, c, r) {
    r = "^"
    for (i = 1; i <= length(g); i++) {
        c = substr(g, i, 1)
        if (c == "*") r = r ".*"
        else if (index("\\^$.[]|()+?{}", c)) r = r "\\" c
        else r = r c
    }
    return r "$"
}
# key of a line: "CONF", "SUMMARY", "Tnnn" or "Tnnn.path"; name: test name used for mask matching
function parse(line, arr,   k, n) {
    split(line, w, " ")
    k = w[1]
    if (k ~ /^T[0-9][0-9][0-9]$/) n = w[2]
    else if (k ~ /^T[0-9][0-9][0-9]\.path$/) n = "*path*"
    else n = k
    arr["key"] = k; arr["name"] = n
}
function apply_mask(line, name,   i, f, nf, j, head, tail, p, fields) {
    for (i = 1; i <= nrules; i++) {
        if (name !~ rule_re[i]) continue
        if (rule_fields[i] == "*") return "(masked)"
        p = index(line, " -> ")
        if (p) { head = substr(line, 1, p + 3); tail = substr(line, p + 4) }
        else if (line ~ /^SUMMARY/) { head = ""; tail = line }
        else { head = line; tail = "" }
        nf = split(rule_fields[i], fields, ",")
        for (j = 1; j <= nf; j++) {
            f = fields[j]
            gsub("(^| )" f "=[^ ]*", "", tail)   # absent and present fields compare equal
            sub(/^ /, "", tail)
        }
        line = head tail " [masked:" rule_fields[i] "]"
    }
    return line
}
FILENAME == ARGV[1] {                       # mask rules
    if ($0 ~ /^[ \t]*(#|$)/) next
    nrules++
    g = $1
    # "*.path" rules match path lines (name "*path*" internally)
    if (g ~ /\.path$/) rule_re[nrules] = "^\\*path\\*$"
    else rule_re[nrules] = glob2re(g)
    rule_fields[nrules] = $2
    next
}
{
    parse($0, a)
    k = a["key"]
    if (k ~ /\.path$/) nm = lastname[FILENAME] ".path"; else nm = a["name"]
    if (k ~ /^T[0-9][0-9][0-9]$/) lastname[FILENAME] = a["name"]
    if (FILENAME == ARGV[2]) { exp_line[k] = $0; exp_name[k] = nm; if (!(k in seen)) { order[++n] = k; seen[k] = 1 } }
    else                     { act_line[k] = $0; act_name[k] = nm; if (!(k in seen)) { order[++n] = k; seen[k] = 1 } }
}
END {
    pass = 0; fail = 0
    for (i = 1; i <= n; i++) {
        k = order[i]
        mname = (k ~ /\.path$/) ? "*path*" : (k ~ /^T/ ? exp_name[k] : k)
        if (!(k in exp_line)) { printf "FAIL %s only in actual: %s\n", k, act_line[k]; fail++; continue }
        if (!(k in act_line)) { printf "FAIL %s missing in actual (expected: %s)\n", k, exp_line[k]; fail++; continue }
        if (k ~ /^T[0-9][0-9][0-9]$/ && exp_name[k] != act_name[k]) {
            printf "FAIL %s test name differs: expected %s, actual %s (different program versions?)\n", k, exp_name[k], act_name[k]
            fail++; continue
        }
        e = apply_mask(exp_line[k], mname); a2 = apply_mask(act_line[k], mname)
        if (e == a2) {
            pass++
            if (show_masked && exp_line[k] != act_line[k])
                printf "MASKED %s %s\n  expected: %s\n  actual:   %s\n", k, exp_name[k], exp_line[k], act_line[k]
        } else {
            fail++
            printf "FAIL %s %s\n  expected: %s\n  actual:   %s\n", k, exp_name[k], e, a2
        }
    }
    printf "conformance: %d passed, %d failed\n", pass, fail
    exit (fail > 0)
}
' "$MASK" <(filter "$EXP") <(filter "$ACT")
