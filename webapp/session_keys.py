"""Session-state keys that one page sets and others read (a page's own widget keys carry its prefix)."""

TRAIN_RUN = "tw_run"  # Train and watch's run (learning.training.Run), read by Self-attention and Compare
UPLOADED_MODEL = "ym_model"  # Your model's upload, (file name, bytes), read by Self-attention and Compare
LINK_CHECKED = "_link_checked"  # the pages whose link values were already checked this session
