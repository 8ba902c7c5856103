"""Gallery enrolment (no Qt, no database): photos in, face descriptors out.

`inputs` turns folders, files and manifests into work items; `run` detects faces in worker
processes, embeds them in batches and hands each batch to a `write` callback, which
`sketchlab.db.gallery.Gallery.enroll` points at its database. Enrolment knows nothing of
the database, so it can be tested and benchmarked on its own.
"""
