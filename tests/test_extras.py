"""synthera._extras.require: a missing optional module becomes one line naming the extra to install."""

from __future__ import annotations

import json

import pytest

from synthera._extras import require
from synthera.errors import UserInputError


def test_an_installed_module_is_returned():
    assert require("json", "text") is json
    assert require("json.decoder", "dp").JSONDecodeError is json.JSONDecodeError


def test_a_missing_module_names_the_extra_in_one_line():
    with pytest.raises(UserInputError) as err:
        require("synthera_no_such_module_xyz", "text")
    message = str(err.value)
    assert message == ("synthera_no_such_module_xyz is not installed; this needs the 'text' extra: "
                       "pip install 'synthera[text]'")
    assert "\n" not in message
    with pytest.raises(UserInputError, match=r"pip install 'synthera\[dp\]'"):
        require("synthera_no_such_module_xyz.sub", "dp")


def test_an_unknown_extra_is_a_programming_error():
    with pytest.raises(ValueError, match="unknown extra 'gpu'") as err:
        require("json", "gpu")
    assert not isinstance(err.value, UserInputError)
