import Herd
import Media

HerdCommand.runMain()
