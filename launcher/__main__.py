import sys

try:
    from launcher.cli import main
except KeyboardInterrupt:  # Ctrl-C while the launcher itself is being imported: no traceback
    sys.stderr.write("interrupted\n")
    raise SystemExit(130) from None

raise SystemExit(main())
