from benchmarks.http.run import main

raise SystemExit(main())
