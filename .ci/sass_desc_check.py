#!/usr/bin/env python3
"""Guard against a ptxas 13.0 miscompile seen in the mma.sync part1 kernel: global-memory
instructions whose memory descriptor (desc[URn]) names an odd uniform register or one that the
function never writes, which the GPU executes as an illegal instruction. Reads `cuobjdump -sass`
text on stdin (or the files named); prints each bad line and exits 1 if any."""
import re
import sys

DESC = re.compile(r"desc\[UR(\d+)\]")
FUNC = re.compile(r"^\s*Function : (\S+)")
# Instructions that write a uniform register: their first operand.
WRITE = re.compile(r"^\s*/\*[0-9a-f]+\*/\s+(?:@!?U?P\w+\s+)?([A-Z0-9_.]+)\s+UR(\d+)\b")


def check(lines):
    bad, func, written, uses = [], None, set(), []

    def flush():
        for n, line in uses:
            if n % 2 or n not in written or n + 1 not in written:
                bad.append(f"{func}: desc[UR{n}] {'odd' if n % 2 else 'never written'}: {line.strip()}")

    for line in lines:
        m = FUNC.match(line)
        if m:
            if func:
                flush()
            func, written, uses = m.group(1), set(), []
            continue
        w = WRITE.match(line)
        if w:
            n = int(w.group(2))
            op = w.group(1)
            written.add(n)
            if op.endswith(".64") or op.startswith("ULDC.64"):
                written.add(n + 1)
        for d in DESC.finditer(line):
            uses.append((int(d.group(1)), line))
    if func:
        flush()
    return bad


def main():
    text = []
    for name in sys.argv[1:] or ["-"]:
        text += (sys.stdin if name == "-" else open(name)).read().splitlines()
    bad = check(text)
    for b in bad[:20]:
        print(b)
    print(f"sass_desc_check: {len(bad)} bad descriptor operands")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
