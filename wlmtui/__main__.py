from wlmtui.cli import main

raise SystemExit(main())
