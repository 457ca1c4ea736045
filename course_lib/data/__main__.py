"""``python -m course_lib.data NAME [NAME ...]``: download optional torchvision datasets into data/."""

from .vision import main

main()
