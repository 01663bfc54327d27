"""Requests the gateway makes on a user's behalf (client callbacks, result-file downloads): each only to an address
checked to be public, and connected to the very address checked."""
