"""Notes on what a capture ran differently, left out or sampled."""

from __future__ import annotations

from fitdoctor.capture.recorder import Recorder


def capture_notes(recorder: Recorder, programs: bool = False) -> list[str]:
    """What the capture ran differently, left out or sampled."""
    notes = []
    if recorder.compile_calls:
        notes.append(
            "torch.compile: the check ran the model eagerly (the capture's hooks need eager mode; compiled or not, "
            "the model computes the same function)"
        )
    if recorder.stages_seen > 1 or recorder.target_stage > 1:
        notes.append(
            f"stages: the script trains in stages (a new optimizer starts stepping after the previous ones "
            f"stopped); this check covers stage {recorder.stage}"
            + (f"; `--stage {recorder.stage + 1}` checks the next one" if recorder.stages_seen > recorder.stage else "")
        )
    kept, dropped = (
        (len(recorder.store.programs), recorder.store.programs_dropped)
        if programs
        else (len(recorder.store.batches), recorder.store.batches_dropped)
    )
    if dropped:
        notes.append(f"kept the first {kept} batches; {dropped} more were not stored")
    return notes
