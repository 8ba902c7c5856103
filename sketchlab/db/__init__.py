"""The gallery store (no Qt): SQLAlchemy tables, sessions, migrations, enrolment, search.

Entry points: sketchlab.db.gallery.open_gallery (the Gallery API) and
sketchlab.db.search (Matcher: the gallery side of sketchlab.core.pipeline). Importing
this package is cheap; face_recognition loads only when something is embedded.
"""
