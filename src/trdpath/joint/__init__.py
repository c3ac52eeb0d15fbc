"""Mixed-methods joint displays (issue 20, item 5): quantitative findings of a result folder beside the themes
of a qualitative project, in the statistics-by-themes and side-by-side layouts of Guetterman, Fetters and
Creswell (2015). docs/joint-displays.md describes the mapping file, the layouts and the disclosure of counts."""
