"""The monthly national report (report 200/BC-BTTTT's indicators) from what the pipeline stored.

`rollups` reads a namespace's daily rollups (I/O), `published` brings the published figures to the
month and scale, `monthly` sets the two side by side (pure), and `formats` renders the result as
text, Markdown, self-contained HTML or JSON. `govpulse report` composes them.
"""
