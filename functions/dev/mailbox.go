package main

import (
	"fmt"
	"time"

	"github.com/personalcrm/core/shared/sandbox"
)

// The correspondents of a new sandbox mailbox, as its contacts should
// show them, and its automated sender, who makes no contact.
var (
	sandboxPeople  = []string{"Grace Hopper", "Alan Turing", "Katherine Johnson", "Renée Dupont"}
	sandboxNoReply = "no-reply@billing.example.net"
)

// sandboxMailbox is the mail of a person who first signs in at the local
// server's sandbox Google: a few weeks of exchanges with several people
// (one of them Cc'd, one with a display name in RFC 2047 encoded words)
// and a machine's invoice, so that the first sync has people to find.
func sandboxMailbox(u sandbox.GoogleUser) []sandbox.GmailMessage {
	now := time.Now()
	me := fmt.Sprintf("%s <%s>", u.Name, u.Email)
	msg := func(daysAgo int, from, to, subject, snippet string, labels []string, extra ...[2]string) sandbox.GmailMessage {
		sent := now.Add(-time.Duration(daysAgo)*24*time.Hour - 3*time.Hour)
		return sandbox.GmailMessage{
			LabelIDs: labels, Snippet: snippet, Received: sent.Add(time.Minute),
			Headers: append(sandbox.MessageHeaders(from, to, subject, sent), extra...),
		}
	}
	inbox, sent := []string{"INBOX", "UNREAD"}, []string{"SENT"}
	return []sandbox.GmailMessage{
		msg(20, "Grace Hopper <grace@example.com>", me, "Lunch on Thursday?",
			"Are you free on Thursday? There is a new place near the harbour I would like to try.", inbox),
		msg(19, me, "Grace Hopper <grace@example.com>", "Re: Lunch on Thursday?",
			"Thursday works. Noon at the harbour?", sent),
		msg(12, me, "Alan Turing <alan@example.org>", "Notes on the trajectory model",
			"Here are my notes from Tuesday; Katherine checked the numbers.", sent,
			[2]string{"Cc", "Katherine Johnson <katherine@example.org>"}),
		msg(11, "Katherine Johnson <katherine@example.org>", me, "Re: Notes on the trajectory model",
			"The second table is right now. See you at the review.", inbox,
			[2]string{"Cc", "Alan Turing <alan@example.org>"}),
		msg(6, "=?UTF-8?Q?Ren=C3=A9e_Dupont?= <renee@example.fr>", me, "Photos from the meetup",
			"It was lovely to meet you in Lyon. The photos are in the shared album.", inbox),
		msg(2, "Example Billing <"+sandboxNoReply+">", me, "Your invoice for this month",
			"Your invoice is ready. This mailbox is not monitored.", inbox),
	}
}

// sandboxCalendar is the calendar of a person who first signs in at the
// local server's sandbox Google: a few weeks of meetings with the people
// their mail is with: a weekly one with Grace Hopper (its occurrences to
// come count once they happen), a review that Katherine Johnson
// declined, in a room, a pitch the person declined, and an all-day block.
func sandboxCalendar(u sandbox.GoogleUser) []sandbox.CalendarEvent {
	day := 24 * time.Hour
	base := time.Now().Truncate(time.Hour)
	me := sandbox.CalendarAttendee{Email: u.Email, DisplayName: u.Name, ResponseStatus: "accepted", Organizer: true}
	person := func(name, addr, response string) sandbox.CalendarAttendee {
		return sandbox.CalendarAttendee{Email: addr, DisplayName: name, ResponseStatus: response}
	}
	weekly := base.Add(-27*day + 2*time.Hour)
	review := base.Add(-10 * day)
	pitch := base.Add(-4*day + time.Hour)
	block := base.Add(-2 * day).Truncate(day)
	return []sandbox.CalendarEvent{
		{Summary: "Weekly with Grace", Start: weekly, End: weekly.Add(30 * time.Minute), Weekly: 6,
			Attendees: []sandbox.CalendarAttendee{me, person("Grace Hopper", "grace@example.com", "accepted")}},
		{Summary: "Trajectory model review", Start: review, End: review.Add(time.Hour), Location: "Harbour room",
			Attendees: []sandbox.CalendarAttendee{me, person("Alan Turing", "alan@example.org", "accepted"),
				person("Katherine Johnson", "katherine@example.org", "declined"),
				{Email: "c_harbour@resource.calendar.google.com", DisplayName: "Harbour room", ResponseStatus: "accepted", Resource: true}}},
		{Summary: "Photo walk in Lyon", Start: base.Add(-6 * day), End: base.Add(-6*day + 2*time.Hour),
			Attendees: []sandbox.CalendarAttendee{me, person("Renée Dupont", "renee@example.fr", "accepted")}},
		{Summary: "Billing platform demo", Start: pitch, End: pitch.Add(time.Hour), Organizer: "sales@billing.example.net",
			Attendees: []sandbox.CalendarAttendee{{Email: "sales@billing.example.net", ResponseStatus: "accepted", Organizer: true},
				{Email: u.Email, DisplayName: u.Name, ResponseStatus: "declined"}}},
		{Summary: "Focus day", Start: block, End: block.Add(day), AllDay: true},
	}
}
