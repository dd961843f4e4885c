"""The demo: a sample web app that links accounts, and `linker demo`, which runs it beside
the dev tenant and the linker service on loopback. See linker/demo/README.md.
"""
