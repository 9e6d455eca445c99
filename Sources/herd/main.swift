import Herd

HerdCommand.runMain()
