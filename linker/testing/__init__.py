"""Helpers for test suites that drive linking: the dev tenant and linker served on loopback
for your application (`run_stack`, `StackConfig`, the pytest plugin), a scripted browser and
a fake clock, and an event sink that receives linker's events (`EventSink`). Used by linker's
own tests; stable enough for yours."""

from linker.testing.browser import Form, ScriptedBrowser
from linker.testing.clock import FakeClock
from linker.testing.config import AppClient, ConfigError, LinkerOptions, StackConfig, TenantSeed
from linker.testing.events import EventSink
from linker.testing.servers import ServerThread, StartError, free_port
from linker.testing.stack import Outcome, Stack, Tokens, run_stack
from linker.testing.urls import params_of, query_of

__all__ = [
    "AppClient",
    "ConfigError",
    "EventSink",
    "FakeClock",
    "Form",
    "LinkerOptions",
    "Outcome",
    "ScriptedBrowser",
    "ServerThread",
    "Stack",
    "StackConfig",
    "StartError",
    "TenantSeed",
    "Tokens",
    "free_port",
    "params_of",
    "query_of",
    "run_stack",
]
