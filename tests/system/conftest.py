import os
import subprocess
import sys

import pytest

sys.path.insert(0, os.path.dirname(__file__))
from gcsproto import Agent  # noqa: E402


@pytest.fixture(params=["unix", "stdio"])
def mode(request):
    return request.param


@pytest.fixture
def agent_factory(tmp_path):
    agents = []

    def make(**kw):
        a = Agent(tmp_path / f"a{len(agents)}", **kw)
        agents.append(a)
        return a

    yield make
    for a in agents:
        rc = a.stop()
        # a crash (signal) or a sanitizer report is a test failure
        assert rc in (0, -15, 143), f"gcs exited with {rc}; log:\n{a.log()[-4000:]}"
        assert "ERROR: AddressSanitizer" not in a.log()


@pytest.fixture
def agent(agent_factory, mode):
    a = agent_factory(mode=mode)
    a.connect()
    return a
