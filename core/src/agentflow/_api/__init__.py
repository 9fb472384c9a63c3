"""The user API: the AgentFlow facade, the request builder, the synchronous forms and the tool
loop.
"""
