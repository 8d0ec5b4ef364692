# JupyterLab for pitchey-analysis (`make lab` passes this file): loopback only, and notebooks
# saved without their outputs (they are committed stripped; the tests fail otherwise).
from pitchey_analysis.nbstrip import pre_save_hook

c = get_config()  # noqa: F821  (provided by Jupyter when it loads this file)
c.ServerApp.ip = "127.0.0.1"
c.ServerApp.open_browser = False
c.ContentsManager.pre_save_hook = pre_save_hook
