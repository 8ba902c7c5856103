"""Enrolment lives in `sketchlab.enrol`; these names stay importable from here for the
GUI's enrolment dialog until it imports them from there."""

from sketchlab.enrol.inputs import EnrollItem, EnrollPlan, plan_enrolment, subject_from_filename
from sketchlab.enrol.run import EnrolledPhoto

__all__ = ["EnrollItem", "EnrollPlan", "EnrolledPhoto", "plan_enrolment",
           "subject_from_filename"]
