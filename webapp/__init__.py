"""The app's own policy, apart from the library: the memory budget and view costs, background
training jobs and slots, session keys, URL notes and Streamlit patches.
"""
