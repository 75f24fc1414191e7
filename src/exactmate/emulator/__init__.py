"""A faithful local Exact Online: OAuth2, REST for every catalogue endpoint, OData, paging, rate
limits, the error budget, webhooks and a control API, runnable in-process or as a server.

The emulator is an island: it reads the catalogue package data but imports nothing else of
exactmate, so a misunderstanding of Exact's protocol cannot hide in both the client and here.
"""
