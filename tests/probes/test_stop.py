"""A probe's early exit: ``Stop`` carries its result to the runner (probes/base.py)."""

from pitchey_analysis.probes.base import ProbeSpec, Result, Stop, classify


def test_stop_is_classified_as_its_own_result():
    r = Result.fail("auth_rejected", "the login token was not accepted")
    assert classify(Stop(r)) is r


async def test_the_runner_records_a_stopped_probe_as_its_result(tmp_path):
    from pitchey_analysis.capture.recorder import Recorder
    from pitchey_analysis.probes import Options, ProbeContext
    from pitchey_analysis.runner import run_probe

    async def stops(ctx):
        raise Stop(Result.skip("no_credentials", "none given"))

    rec = Recorder(tmp_path, {})
    ctx = ProbeContext(ws_url="ws://127.0.0.1:9/ws", http_url="http://127.0.0.1:9", recorder=rec, options=Options())
    record = await run_probe(ProbeSpec("t.stop", "connection", False, "-", stops), ctx, rec)
    rec.close("complete")
    assert (record["outcome"], record["reason"], record["detail"]) == ("skip", "no_credentials", "none given")
