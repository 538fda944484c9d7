import IngestKit
import Testing

/// One table says what a status means for every service we call; the clients word the error.
@Suite struct HTTPStatusMeaningTests {
    @Test(arguments: [
        (401, HTTPStatusMeaning.credentialsRefused), (403, .credentialsRefused),
        (404, .notFound), (413, .tooLarge),
        (408, .unavailable), (429, .unavailable), (502, .unavailable), (503, .unavailable), (504, .unavailable),
        (500, .serverFailed), (501, .serverFailed), (599, .serverFailed),
        (400, .refused), (405, .refused), (409, .refused), (422, .refused), (302, .refused),
    ])
    func statusHasOneMeaning(status: Int, meaning: HTTPStatusMeaning) {
        #expect(HTTPStatusMeaning(status: status) == meaning)
    }

    @Test func onlyUnavailableAndServerFailuresAreTransient() {
        for meaning in HTTPStatusMeaning.allCases {
            #expect(meaning.isTransient == [.unavailable, .serverFailed].contains(meaning))
        }
    }

    @Test func retryAfterIsReadFromTheHeader() {
        #expect(HTTPResponse(status: 429, headers: [("Retry-After", "2")]).retryAfter == .seconds(2))
        #expect(HTTPResponse(status: 429).retryAfter == nil)
    }
}
