"""The command-line verbs beyond serving: `linker reconcile`, `linker events`."""
