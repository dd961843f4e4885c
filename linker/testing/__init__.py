"""Helpers for test suites that drive linking: servers on loopback, a scripted browser and a
fake clock. Used by linker's own tests; stable enough for yours."""

from linker.testing.browser import Form, ScriptedBrowser
from linker.testing.clock import FakeClock
from linker.testing.servers import ServerThread, free_port
from linker.testing.urls import params_of, query_of

__all__ = [
    "FakeClock",
    "Form",
    "ScriptedBrowser",
    "ServerThread",
    "free_port",
    "params_of",
    "query_of",
]
