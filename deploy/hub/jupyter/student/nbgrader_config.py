"""nbgrader in a student's server: the course, the exchange, and who the student is."""

import os

c = get_config()  # noqa: F821
c.CourseDirectory.course_id = os.environ["NBGRADER_COURSE_ID"]
c.Exchange.root = os.environ["NBGRADER_EXCHANGE"]
# Every server runs as the hub's Unix user, so nbgrader cannot tell students apart by their Unix
# name: a submission is filed under the hub's name for the student.
c.CourseDirectory.student_id = os.environ["JUPYTERHUB_USER"]
