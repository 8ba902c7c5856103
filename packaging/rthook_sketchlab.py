"""PyInstaller runtime hook: runs before the app in the frozen bundle."""

import warnings

# face_recognition_models imports pkg_resources; its deprecation warning means nothing
# to a user of the bundle, who cannot change the dependency.
warnings.filterwarnings("ignore", message="pkg_resources is deprecated", category=UserWarning)
