from linker.cli import main

raise SystemExit(main())
