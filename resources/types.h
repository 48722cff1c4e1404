/* The resource type numbers of TS-0004 (Table 6.3.4.2.1-1, m2m:resourceType).
 * Code outside resources/ names a type only where it implements that type's
 * mechanism (the ACP decider and TY_ACP); everything else it asks of a type
 * is a field or hook of the type's descriptor (registry.h). */
#ifndef IRONBARK_TYPES_H
#define IRONBARK_TYPES_H

enum m2m_type {
    TY_ACP = 1, TY_AE = 2, TY_CNT = 3, TY_CIN = 4, TY_CSEBASE = 5, TY_DLV = 6, TY_EVCG = 7,
    TY_EXIN = 8, TY_GRP = 9, TY_LCP = 10, TY_MSSP = 11, TY_MGC = 12, TY_MGMTOBJ = 13, TY_NOD = 14,
    TY_PCH = 15, TY_CSR = 16, TY_REQ = 17, TY_SCH = 18, TY_ASAR = 19, TY_SVSN = 20, TY_STCL = 21,
    TY_STCG = 22, TY_SUB = 23, TY_SMD = 24, TY_NTPR = 25, TY_NTP = 26, TY_PDR = 27, TY_FCNT = 28,
    TY_TS = 29, TY_TSI = 30, TY_ROL = 31, TY_TK = 32, TY_DAC = 34, TY_AUDS = 35, TY_AUPY = 36,
    TY_AUIF = 37, TY_ONTR = 38, TY_ONT = 39, TY_SMJP = 40, TY_SMI = 41, TY_SMR = 42, TY_ALST = 43,
    TY_ALPC = 44, TY_LMG = 45, TY_MMS = 46, TY_TGR = 47, TY_CRS = 48, TY_BDT = 49, TY_TRAM = 50,
    TY_TRAC = 51, TY_FCI = 58, TY_TSB = 60, TY_PRP = 62,
    /* An announced variant is the original's number plus this. */
    TY_ANNC_OFFSET = 10000,
    /* No resource type number is larger: a bound for parsing the wire. */
    TY_NUMBER_MAX = 100000,
};

#endif
