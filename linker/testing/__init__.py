"""Helpers for test suites that drive linking over real HTTP: servers on loopback and a
scripted browser. Used by linker's own end-to-end tests; stable enough for yours."""

from linker.testing.browser import Form, ScriptedBrowser
from linker.testing.servers import ServerThread, free_port

__all__ = ["Form", "ScriptedBrowser", "ServerThread", "free_port"]
