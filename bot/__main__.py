import sys

from bot.runners.cli import main

sys.exit(main())
