"""Goals: targets that leadership sets on catalog metrics, and their progress per period."""
