"""PhotoSorter driven with a real pointer on a real X server (Xvfb + xdotool)."""
