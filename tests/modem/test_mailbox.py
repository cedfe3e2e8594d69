"""The modem thread's mailbox: wake-ups coalesce, and one let go is no longer pending."""

from __future__ import annotations

from appliance.modem.mailbox import Mailbox


def kinds(box: Mailbox) -> list[str]:
    out = []
    while not box.empty():
        out.append(box.get_nowait()[0])
    return out


def test_wakes_coalesce_until_one_is_taken() -> None:
    box = Mailbox()
    box.wake()
    box.wake()
    assert kinds(box) == ["wake"]
    box.wake()  # the one taken is not pending any more
    assert kinds(box) == ["wake"]


def test_a_wake_let_go_while_disconnected_does_not_silence_later_wakes() -> None:
    # While the modem is disconnected the loop waits in refuse_jobs, which lets a "wake" go
    # without handling it.  The next wake() must still queue one (it used to add nothing, for
    # the life of the process, once the port came back).
    box = Mailbox()
    box.wake()
    box.refuse_jobs(0.05, lambda: False, lambda: RuntimeError("not connected"))
    assert box.empty()
    box.wake()
    assert kinds(box) == ["wake"]


def test_keep_only_keeps_a_queued_wake_pending() -> None:
    box = Mailbox()
    box.put(("urc", '+CMTI: "SM",1'))
    box.wake()
    box.keep_only(("job", "stop", "wake"))
    box.wake()  # one is still queued: nothing added
    assert kinds(box) == ["wake"]
