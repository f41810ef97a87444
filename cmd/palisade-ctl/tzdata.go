package main

// The time zone database is built in, so that `tz('Europe/Paris')` in a
// query (and every time zone the binary needs) works in an image that has
// no /usr/share/zoneinfo, such as deploy/docker's FROM scratch.
import _ "time/tzdata"
