"""Training data: OSD/SOS folders, labelled user scenes, 256² tiles, scene splits, generated pairs."""
