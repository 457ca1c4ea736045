"""nbgrader in a student's server: the course, the exchange, and who the student is."""

import os

c = get_config()  # noqa: F821
c.CourseDirectory.course_id = os.environ["NBGRADER_COURSE_ID"]
c.Exchange.root = os.environ["NBGRADER_EXCHANGE"]
# where the lessons are: lessonNN/ folders in the server's root here, ~/lessons/ on Kubernetes
c.Exchange.assignment_dir = os.environ.get("NBGRADER_ASSIGNMENT_DIR", ".")
# a submission is a notebook or two: refuse a folder over 20 MB, skip a file over 10 MB
c.CourseDirectory.max_dir_size = 20_000  # kB
c.CourseDirectory.max_file_size = 10_000  # kB
# Every server runs as the hub's Unix user, so nbgrader cannot tell students apart by their Unix
# name: a submission is filed under the hub's name for the student.
c.CourseDirectory.student_id = os.environ["JUPYTERHUB_USER"]
