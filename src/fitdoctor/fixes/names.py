"""The names a script gives to what a fix edits: read from the source lines the capture located."""

from __future__ import annotations

import re

from fitdoctor.evidence import Evidence
from fitdoctor.location import Location


def assigned_name(location: Location | None) -> str | None:
    """The name a line assigns (``optimizer`` of ``optimizer = torch.optim.SGD(...)``), None if it assigns none."""
    if location is None:
        return None
    match = re.match(r"\s*([A-Za-z_][\w.]*)\s*(?::[^=]+)?=(?!=)", location.source)
    return match.group(1) if match else None


def model_name(ev: Evidence) -> str | None:
    """The name the script's model goes by where its optimizer is built: the name the model's creation line
    assigns, or else the one whose ``.parameters()`` the optimizer line passes (a model built inside a helper
    function, ``model = make_mlp(4)``, is located at the helper's ``return``)."""
    name = assigned_name(ev.locate.model)
    if name is None and ev.locate.optimizer is not None:
        match = re.search(r"([A-Za-z_][\w.]*)\.parameters\(\)", ev.locate.optimizer.source)
        name = match.group(1) if match else None
    return name
