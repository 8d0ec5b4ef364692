"""What the notebooks call: opening and picking runs (:mod:`.explore`) and one function per view (:mod:`.views`).

The notebooks hold no logic: every cell calls one of these. This layer sits last in the flow, on the report's
formatting and figures; nothing below imports it. Whether figures are ipympl widgets is this kernel's choice
(:func:`explore.use_widgets`), handed to the report's ``render.show(interactive=...)`` on every call.
"""
