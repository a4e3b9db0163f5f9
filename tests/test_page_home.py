from tests.dashboard_fixtures import tiny_run_root, app_env  # noqa
def test_x(app_env):
    from core import runs
    print([ (i.name, i.status, i.reason) for i in runs.list_runs()])
