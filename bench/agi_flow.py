"""The benchmark's 8-command menu flow as a classic pyst2 AGI script: one process per call.

Asterisk's ``AGI(script)`` forks this, writes the ``agi_*`` header on its
stdin and reads commands from its stdout; ``bench/fastagi.py`` plays that
part. Kept to the imports a real pyst2 script has, so process start-up is
what it would cost in production.
"""

from asterisk.agi import AGI


def main() -> None:
    agi = AGI()
    agi.answer()
    agi.set_variable("IVR_LINE", "main")
    agi.get_variable("CALLERID(num)")
    agi.stream_file("ivr/welcome", "")
    agi.get_data("ivr/menu", 3000, 1)
    agi.set_variable("IVR_QUEUE", "basic_zh")
    agi.set_variable("IVR_PRIORITY", "0")
    agi.verbose("done", 1)


if __name__ == "__main__":
    main()
