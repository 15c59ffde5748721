"""`launcher comment`: render the sticky PR comment for one runspec and, with --post, create or update it."""

from __future__ import annotations

import argparse
import json
import os
from dataclasses import asdict, dataclass

HELP = "render (and --post) the sticky pull-request comment for a runspec"
DESCRIPTION = """\
Render the PR comment for one runspec from the JSON the other steps wrote: the launch result (job, target,
nodes x runs per node, runs, Spot or dedicated, code files, cost), the smoke report and the lint findings.

Without --post the body is printed. With --post it becomes the one sticky comment for this runspec on the
pull request: found by its hidden marker AND its author (default github-actions[bot]), updated in place,
created when missing. Uses $GITHUB_API_URL, $GITHUB_TOKEN and $GITHUB_REPOSITORY.

The pull request is --pr, else the event's ($GITHUB_EVENT_PATH), else the open PR of the event's branch
(a workflow_dispatch run); when there is none, nothing is posted and the exit code is 0.

Examples:
  launcher comment --runspec runspecs/x.yaml --launch-json launch.json --smoke-json smoke.json
  launcher comment --runspec runspecs/x.yaml --launch-json launch.json --post
"""


@dataclass
class CommentResult:
    runspec: str
    body: str
    action: str = "rendered"  # rendered | created | updated | unchanged | skipped
    pr: int | None = None
    comment_id: int | None = None
    url: str = ""
    reason: str = ""

    def to_dict(self) -> dict:
        return asdict(self)


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--runspec", default="", metavar="PATH",
                        help="the runspec the comment is about (default with --job: the job's runspec)")
    parser.add_argument("--launch-json", metavar="FILE", help="`launcher launch --format json` output")
    parser.add_argument("--smoke-json", metavar="FILE", help="`launcher smoke --format json` output")
    parser.add_argument("--lint-json", metavar="FILE", help="`launcher lint --format json` output")
    parser.add_argument("--run-url", metavar="URL", default="",
                        help="link to the workflow run (default: from $GITHUB_SERVER_URL, $GITHUB_RUN_ID)")
    parser.add_argument("--ledger-url", metavar="URL", default="", help="link to the ledger (default: jobs.md on "
                        "the default branch)")
    parser.add_argument("--job", metavar="JOB", default="",
                        help="show this job's results from the store (status, top runs by hpmax, a chart of the "
                             "objective); default: the launch JSON's job, when it ended")
    parser.add_argument("--finished", metavar="REFRESH_JSON", default="",
                        help="post the results of every job that `launcher ledger refresh --format json` found "
                             "ended, on the pull request its ledger origin names (PR #N); with --post")
    parser.add_argument("--no-results", action="store_true", help="do not read the job's results from the store")
    parser.add_argument("--project", default=None, metavar="DIR", help="project folder (for the store)")
    parser.add_argument("--not-launched", metavar="REASON", default="",
                        help="say why nothing was launched (e.g. 'dry run')")
    parser.add_argument("--launch-job-result", metavar="RESULT", default="",
                        help="the launch jobs' results (`needs.<job>.result`, several separated by spaces): with "
                             "'failure' and no launch JSON, the comment says the launch failed before it produced "
                             "a result")
    parser.add_argument("--post", action="store_true", help="create or update the sticky comment on the PR")
    parser.add_argument("--pr", type=int, metavar="N", help="pull request number (default: from the event)")
    parser.add_argument("--repo", metavar="OWNER/REPO", default="", help="default: $GITHUB_REPOSITORY")
    parser.add_argument("--author", metavar="LOGIN", default=os.environ.get("LAUNCHER_COMMENT_AUTHOR", ""),
                        help="login whose comments are ours (default: github-actions[bot], or "
                             "$LAUNCHER_COMMENT_AUTHOR when a GitHub App token posts)")
    parser.add_argument("--format", choices=("text", "json"), default="text",
                        help="text prints the body (or what --post did); json prints the result")


def _default_run_url() -> str:
    server, repo, run_id = (os.environ.get(k, "") for k in ("GITHUB_SERVER_URL", "GITHUB_REPOSITORY", "GITHUB_RUN_ID"))
    if server and repo and run_id:
        attempt = os.environ.get("GITHUB_RUN_ATTEMPT", "")
        return f"{server}/{repo}/actions/runs/{run_id}" + (f"/attempts/{attempt}" if attempt not in ("", "1") else "")
    return ""


def _default_ledger_url(event) -> str:
    server, repo = os.environ.get("GITHUB_SERVER_URL", ""), os.environ.get("GITHUB_REPOSITORY", "")
    branch = (event.default_branch if event else "") or "main"
    if server and repo:
        return f"{server}/{repo}/blob/{branch}/{os.environ.get('LAUNCHER_LEDGER', 'jobs.md')}"
    return ""


def _results(args, launch: dict | None) -> dict | None:
    """The job's results: the launch JSON's (a followed launch ends with them), else read from the store when the
    job ended (--job, or the launch JSON's job); None when there is nothing to show or no store to read."""
    if launch and isinstance(launch.get("results"), dict) and not args.job:
        return launch["results"]
    job = args.job or (launch or {}).get("job")
    if not job:
        return None
    from launcher.diagnostics import LauncherError

    try:
        from launcher.backends import store_for
        from launcher.config import load_config
        from launcher.results.job import job_results

        cfg = load_config(project=args.project) if args.project else load_config()
        store, _ = store_for(cfg, job)
        results = job_results(store, job)
    except LauncherError:
        if args.job:
            raise  # asked for by name: say why it cannot be read
        return None  # the launch JSON's job is not readable here (a privileged step without the store)
    except Exception:  # noqa: BLE001 - an unreachable store only leaves the results out of the comment
        if args.job:
            raise
        return None
    return results if args.job or results.get("status") in ("completed", "failed", "cancelled", "lost") else None


def _job_runspec(args) -> str:
    from launcher.backends import store_for
    from launcher.config import load_config
    from launcher.diagnostics import LauncherError
    from launcher.jobs.status import read_job

    cfg = load_config(project=args.project) if args.project else load_config()
    store, _ = store_for(cfg, args.job)
    runspec = (read_job(store, args.job) or {}).get("runspec")
    if not runspec:
        raise LauncherError(f"{args.job} has no runspec in its record", hint="pass --runspec PATH")
    return runspec


def _launch_from_store(args) -> dict | None:
    """A launch-like dict of a job from its record, for a comment made after the launch (the ledger refresh)."""
    from launcher.backends import store_for
    from launcher.config import load_config
    from launcher.jobs.status import read_job

    cfg = load_config(project=args.project) if args.project else load_config()
    store, tgt = store_for(cfg, args.job)
    record = read_job(store, args.job) or {}
    keys = ("job", "target", "total_runs", "compute_nodes", "runs_per_node", "low_priority", "commit", "runs",
            "parents", "code_files", "origin")
    out = {k: record[k] for k in keys if k in record}
    out.update(status="launched", backend=tgt.backend, nodes=record.get("compute_nodes"))
    return out


_FINAL = ("completed", "failed", "cancelled", "lost")


def pr_of_origin(origin: str) -> int | None:
    """12 from a ledger origin 'PR #12' or '[PR #12](…/pull/12)'; None for dispatches, pushes, local launches."""
    import re

    match = re.match(r"^\[?PR #(\d+)\b", origin or "")
    return int(match.group(1)) if match else None


def _run_finished(args: argparse.Namespace) -> int:
    """The scheduled ledger refresh found jobs ended: update each one's sticky comment with its results."""
    from launcher import github
    from launcher.backends import store_for
    from launcher.config import load_config
    from launcher.diagnostics import UsageError
    from launcher.jobs.status import read_job
    from launcher.report.comment import load_json, marker

    if not args.post:
        raise UsageError("--finished posts comments: add --post", hint="it is the ledger workflow's step")
    refresh = load_json(args.finished, "ledger refresh") or {}
    ended = [r["job"] for r in refresh.get("rows") or [] if isinstance(r, dict) and r.get("changed")
             and r.get("status") in _FINAL and r.get("status_before") not in _FINAL]
    cfg = load_config(project=args.project) if args.project else load_config()
    api = None
    done = []
    for job in ended:
        store, _ = store_for(cfg, job)
        record = read_job(store, job) or {}
        number = pr_of_origin(record.get("origin", ""))
        if number is None or not record.get("runspec"):
            done.append({"job": job, "action": "skipped", "reason": "not launched from a pull request"})
            continue
        sub = argparse.Namespace(**{**vars(args), "job": job, "runspec": record["runspec"], "launch_json": None,
                                    "smoke_json": None, "lint_json": None, "finished": ""})
        body = _render(sub, None)
        api = api or github.GitHubAPI.from_env(args.repo)
        action, comment = github.upsert_sticky_comment(api, number, body, marker(record["runspec"]),
                                                       author=args.author or github.DEFAULT_BOT)
        github.append_step_summary(body)
        done.append({"job": job, "action": action, "pr": number, "url": str(comment.get("html_url") or "")})
    if args.format == "json":
        print(json.dumps({"comments": done}, indent=2))
    else:
        for d in done:
            print(f"{d['job']}: comment {d['action']}" + (f" (PR #{d['pr']})" if d.get("pr") else "")
                  + (f": {d['reason']}" if d.get("reason") else ""))
        if not done:
            print("no job ended since the last refresh")
    return 0


def _render(args: argparse.Namespace, event) -> str:
    from launcher.report.comment import CommentInput, load_json, load_launch_json, render_comment

    launch = load_launch_json(args.launch_json)
    smoke = load_json(args.smoke_json, "smoke")
    lint = load_json(args.lint_json, "lint")
    skipped = args.not_launched
    if not skipped and args.launch_json and launch is None:
        if "failure" in args.launch_job_result.split():
            launch = {"status": "failed", "runspec": args.runspec,
                      "error": "the launch job failed before the launcher produced a result",
                      "hint": "open the workflow run's launch job: its first failing step says why"}
        else:
            skipped = "the launch step produced no result (it was skipped, or is waiting for approval)"
    inp = CommentInput(runspec=args.runspec, launch=launch if isinstance(launch, dict) else None,
                       smoke=smoke if isinstance(smoke, dict) else None, lint=lint,
                       run_url=args.run_url or _default_run_url(),
                       ledger_url=args.ledger_url or _default_ledger_url(event), launch_skipped=skipped)
    inp.results = None if args.no_results else _results(args, launch if isinstance(launch, dict) else None)
    if args.job and inp.launch is None:
        inp.launch = _launch_from_store(args)
    from pathlib import Path

    from launcher.runspec.api import launcher_section

    if Path(args.runspec).is_file():
        inp.job_launcher = launcher_section(Path(args.runspec))
    return render_comment(inp)


def run(args: argparse.Namespace) -> int:
    if args.finished:
        return _run_finished(args)
    from launcher import github
    from launcher.report.comment import marker

    event = None
    if os.environ.get("GITHUB_EVENT_PATH"):
        try:
            event = github.load_event()
        except Exception:  # noqa: BLE001 - the comment renders fine without the event
            event = None
    if not args.runspec:
        if not args.job:
            from launcher.diagnostics import UsageError

            raise UsageError("--runspec is required (or --job, whose runspec it then is)",
                             hint="for example: launcher comment --runspec runspecs/x.yaml --launch-json launch.json")
        args.runspec = _job_runspec(args)
    result = CommentResult(runspec=args.runspec, body=_render(args, event))

    if args.post:
        api = github.GitHubAPI.from_env(args.repo)
        number = args.pr or (event.pr_number if event else None)
        if number is None and args.job:  # a job's comment goes to the PR that launched it
            number = pr_of_origin((_launch_from_store(args) or {}).get("origin", ""))
        if number is None and event is not None and event.branch:
            number = api.open_pr_for_branch(event.branch)
        if number is None:
            result.action = "skipped"
            result.reason = "no pull request for this run (no --pr, and no open PR for the branch)"
        else:
            action, comment = github.upsert_sticky_comment(
                api, number, result.body, marker(args.runspec), author=args.author or github.DEFAULT_BOT)
            result.action, result.pr = action, number
            result.comment_id = int(comment.get("id") or 0) or None
            result.url = str(comment.get("html_url") or "")

    if args.format == "json":
        print(json.dumps(result.to_dict(), indent=2))
    elif args.post:
        where = f"PR #{result.pr}" if result.pr else "no PR"
        print(f"comment {result.action} ({where}){': ' + result.reason if result.reason else ''}"
              f"{' ' + result.url if result.url else ''}")
    else:
        print(result.body, end="")
    if args.post:
        github.append_step_summary(result.body)
    return 0
