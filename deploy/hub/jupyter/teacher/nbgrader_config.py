"""nbgrader in the teacher's formgrader: the course folder, the exchange, and how to grade."""

import os

c = get_config()  # noqa: F821
c.CourseDirectory.root = os.environ["NBGRADER_COURSE_ROOT"]
c.CourseDirectory.course_id = os.environ["NBGRADER_COURSE_ID"]
c.Exchange.root = os.environ["NBGRADER_EXCHANGE"]
# the same size limits as the students' side, so collect cannot be flooded either
c.CourseDirectory.max_dir_size = 20_000  # kB
c.CourseDirectory.max_file_size = 10_000  # kB
# As in docs/teacher_guide.md: the kit's grading extension turns a failed or unfinished check into
# an error, which nbgrader scores as zero.
c.Execute.extra_arguments = ["--HistoryManager.hist_file=:memory:", "--ext=course_lib.student_edition"]
c.Execute.timeout = 300
# Every server runs as the hub's Unix user, so a submission's file owner cannot name its student:
# nbgrader's owner check would flag every submission. (With one Unix user per student, keep it.)
c.CollectApp.check_owner = False
